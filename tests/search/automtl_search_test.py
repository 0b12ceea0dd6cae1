"""AutoMTL's search: which step trains what, the schedules, derive, reproducibility."""

import json

import keras
import numpy as np
import pytest

from zoo import models
from zoo.models.automtl import load_architecture
from zoo.search import SearchConfig, describe_architecture, save_architecture, search_automtl

SMALL_SPACE = {
    "field_dim": 4,
    "interaction_ops": ["skip", "inner-product", "cross-1", "attention-2", "mlp-8"],
    "expert_ops": ["skip", "bit-gate", "mlp-8", "conv1d-3"],
    "num_experts": 3,
    "num_blocks": 2,
    "expert_width": 8,
    "tower_units": [4],
}


def _supernet(dataset, preprocessor, **overrides):
    keras.utils.set_random_seed(5)
    return models.AutoMTLSupernet(
        dataset.tasks, preprocessor=preprocessor, seed=5, **{**SMALL_SPACE, **overrides}
    )


def _compiled(dataset, preprocessor, **overrides):
    model = _supernet(dataset, preprocessor, **overrides)
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        architecture_optimizer=keras.optimizers.Adam(0.1),
        selection_optimizer=keras.optimizers.Adam(0.1),
    )
    return model


def _batch(dataset, preprocessor, split):
    return next(iter(dataset.tf_dataset(split, preprocessor, 64)))


def _values(variables):
    return [np.array(v) for v in variables]


def _changed(before, variables):
    return [not np.allclose(b, np.array(v)) for b, v in zip(before, variables)]


def test_an_architecture_step_moves_alpha_only(synthetic_dataset, synthetic_preprocessor):
    model = _compiled(synthetic_dataset, synthetic_preprocessor)
    alpha, beta, network = (
        model.architecture_variables(),
        model.selection_variables(),
        model.network_variables(),
    )
    assert len(alpha) == 2 and len(beta) == 1 and network
    before = [_values(alpha), _values(beta), _values(network)]
    model.architecture_step(_batch(synthetic_dataset, synthetic_preprocessor, "validation"))
    assert all(_changed(before[0], alpha))
    assert not any(_changed(before[1], beta))
    assert not any(_changed(before[2], network))


def test_a_weight_step_moves_weights_and_beta_not_alpha(synthetic_dataset, synthetic_preprocessor):
    model = _compiled(synthetic_dataset, synthetic_preprocessor)
    alpha, beta, network = (
        model.architecture_variables(),
        model.selection_variables(),
        model.network_variables(),
    )
    before = [_values(alpha), _values(beta), _values(network)]
    model.weight_step(_batch(synthetic_dataset, synthetic_preprocessor, "train"), selection_on=1.0)
    assert not any(_changed(before[0], alpha))
    assert all(_changed(before[1], beta))
    assert sum(_changed(before[2], network)) > len(network) // 2


def test_beta_stays_frozen_during_the_warm_up(synthetic_dataset, synthetic_preprocessor):
    model = _compiled(synthetic_dataset, synthetic_preprocessor)
    beta, network = model.selection_variables(), model.network_variables()
    before_beta, before_network = _values(beta), _values(network)
    for _ in range(3):
        model.weight_step(
            _batch(synthetic_dataset, synthetic_preprocessor, "train"), selection_on=0.0
        )
    assert not any(_changed(before_beta, beta))
    assert any(_changed(before_network, network))
    # The warm-up leaves beta's optimizer as it was, so its bias correction starts afresh.
    assert int(model.selection_optimizer.iterations) == 0
    model.weight_step(_batch(synthetic_dataset, synthetic_preprocessor, "train"), selection_on=1.0)
    assert int(model.selection_optimizer.iterations) == 1
    assert all(_changed(before_beta, beta))


def test_schedules(synthetic_dataset, synthetic_preprocessor):
    model = _supernet(synthetic_dataset, synthetic_preprocessor, jsd_weight=2.0)
    model.configure_search(total_steps=10, warmup_steps=2)
    table = {step: [float(v) for v in model.schedule(step)] for step in (0, 1, 2, 6, 10, 12)}
    # (jsd weight, auxiliary skip weight, selection on)
    assert table[0] == [0.0, 1.0, 0.0]
    assert table[1] == pytest.approx([0.0, 0.9, 0.0])
    assert table[2] == pytest.approx([2.0, 0.8, 1.0])  # warm-up over: full JSD weight
    assert table[6] == pytest.approx([1.0, 0.4, 1.0])  # linear decay to 0 at the last step
    assert table[10] == pytest.approx([0.0, 0.0, 1.0])
    assert table[12] == pytest.approx([0.0, 0.0, 1.0])
    model.configure_search(total_steps=10, warmup_steps=0, auxiliary_skip=False)
    assert float(model.schedule(3)[1]) == 0.0
    with pytest.raises(ValueError, match="warmup_steps < total_steps"):
        model.configure_search(total_steps=4, warmup_steps=4)


def test_derive_takes_the_argmax_operations_and_top_experts(
    synthetic_dataset, synthetic_preprocessor
):
    model = _supernet(synthetic_dataset, synthetic_preprocessor)
    model.build()
    switcher = model.switcher
    interaction = np.zeros(5, "float32")
    interaction[3] = 2.0  # attention-2
    switcher.interaction_alpha.assign(interaction)
    experts = np.zeros((3, 2, 4), "float32")
    experts[0, :, 3] = 1.0  # expert 0: conv1d-3, conv1d-3
    experts[1, 0, 1], experts[1, 1, 0] = 1.0, 1.0  # expert 1: bit-gate, skip
    experts[2, :, 2] = 1.0  # expert 2: mlp-8, mlp-8
    switcher.expert_alpha.assign(experts)
    switcher.selection.beta.assign(np.array([[0.3, 0.1, 0.2], [-1.0, 0.5, 0.4]], "float32"))
    architecture = model.derive(num_selected=2)
    assert architecture["interaction"] == "attention-2"
    assert architecture["experts"] == [
        ["conv1d-3", "conv1d-3"],
        ["bit-gate", "skip"],
        ["mlp-8", "mlp-8"],
    ]
    assert architecture["task_experts"] == {"click": [0, 2], "like": [1, 2]}
    assert describe_architecture(architecture).startswith("interaction: attention-2 ||")
    with pytest.raises(ValueError, match="num_selected"):
        model.derive(num_selected=4)


def test_search_compiles_with_xla(synthetic_dataset, synthetic_preprocessor):
    # The smallest supernet, so that the XLA compilation stays short.
    model = _supernet(
        synthetic_dataset,
        synthetic_preprocessor,
        interaction_ops=["skip", "cross-1"],
        expert_ops=["skip", "conv1d-3"],
        num_experts=2,
        num_blocks=1,
    )
    # A frozen alpha (learning rate 0) also shows that nothing else in the step touches it.
    config = SearchConfig(
        epochs=1,
        batch_size=256,
        num_selected=1,
        jit_compile=True,
        architecture_optimizer=keras.optimizers.SGD(0.0),
        verbose=0,
    )
    model.build()
    alpha = _values(model.architecture_variables())
    network = _values(model.network_variables())
    result = search_automtl(model, synthetic_dataset, config)
    assert model.jit_compile
    assert np.isfinite(result.history["loss"]).all()
    assert not any(_changed(alpha, model.architecture_variables()))
    assert any(_changed(network, model.network_variables()))
    assert result.architecture["search"]["config"]["architecture_optimizer"] == {
        "class": "SGD",
        "learning_rate": 0.0,
    }


def test_search_is_reproducible_and_derives_a_trainable_model(
    synthetic_dataset, synthetic_preprocessor, tmp_path
):
    config = SearchConfig(
        epochs=2, batch_size=128, num_selected=2, seed=11, jit_compile=False, verbose=0
    )
    results = []
    for _ in range(2):
        model = _supernet(synthetic_dataset, synthetic_preprocessor)
        results.append(search_automtl(model, synthetic_dataset, config))
    first, second = results
    assert first.architecture["experts"] == second.architecture["experts"]
    assert first.architecture["task_experts"] == second.architecture["task_experts"]
    assert first.architecture["search_weights"] == second.architecture["search_weights"]
    assert len(first.epoch_architectures) == 2
    assert np.isfinite(first.history["search_val_loss"]).all()
    assert first.history["jsd_weight"][-1] < first.history["jsd_weight"][0] or config.warmup
    assert first.architecture["search"]["config"]["seed"] == 11
    # A searched supernet saves and reloads with its alpha and beta.
    model.save(str(tmp_path / "supernet.keras"))
    reloaded = keras.saving.load_model(str(tmp_path / "supernet.keras"))
    assert reloaded.derive(2)["experts"] == second.architecture["experts"]
    assert reloaded.derive(2)["search_weights"] == second.architecture["search_weights"]

    path = save_architecture(first.architecture, str(tmp_path / "arch.json"))
    architecture = load_architecture(path)
    derived = models.AutoMTL(
        synthetic_dataset.tasks, architecture, preprocessor=synthetic_preprocessor
    )
    derived.compile()
    history = derived.fit(
        synthetic_dataset.train.features,
        synthetic_dataset.train.labels,
        batch_size=64,
        epochs=1,
        verbose=0,
    )
    assert np.isfinite(history.history["loss"]).all()
    assert derived.gate_expert_names() == {
        task: [f"expert_{i}" for i in architecture["task_experts"][task]]
        for task in derived.task_names
    }


def test_architecture_files_are_checked(tmp_path, synthetic_dataset, synthetic_preprocessor):
    with pytest.raises(ValueError, match="architecture file .*missing.json"):
        load_architecture(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "tasks": ["click", "like"],
                "field_dim": 4,
                "expert_width": 8,
                "interaction": "skip",
                "experts": [["mlp-8", "lstm-2"]],
                "task_experts": {"click": [0], "like": [0]},
            }
        )
    )
    with pytest.raises(ValueError, match=r"bad.json: Unknown candidate operation 'lstm-2'"):
        load_architecture(str(bad))
    architecture = json.loads(bad.read_text())
    architecture["experts"] = [["mlp-8"]]
    architecture["task_experts"] = {"click": [0]}
    with pytest.raises(ValueError, match=r"task_experts names tasks \['click'\]"):
        models.AutoMTL(synthetic_dataset.tasks, architecture, preprocessor=synthetic_preprocessor)
    architecture["task_experts"] = {"click": [0], "like": [3]}
    with pytest.raises(ValueError, match=r"task_experts\[1\]=\[3\]"):
        models.AutoMTL(synthetic_dataset.tasks, architecture, preprocessor=synthetic_preprocessor)
