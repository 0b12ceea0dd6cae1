"""The gate registry: found from the files of zoo/layers/gates/, listed without TensorFlow."""

import inspect
import json
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from zoo.registry import GATES, discover_gates

ROOT = pathlib.Path(__file__).resolve().parents[2]
GATES_DIR = ROOT / "zoo" / "layers" / "gates"


def test_every_gate_file_is_a_registered_gate_and_nothing_else():
    files = sorted(
        p.name[: -len("_gate.py")].replace("_", "-") for p in GATES_DIR.glob("*_gate.py")
    )
    assert sorted(GATES) == files
    assert {"softmax", "noisy-top-k"} <= set(GATES)
    assert "bit" not in GATES, "BitGate is an elementwise gate, not a gate over experts"


@pytest.mark.parametrize("name", sorted(GATES))
def test_every_registered_gate_keeps_the_gate_protocol(name):
    cls = GATES[name]
    assert "num_experts" in inspect.signature(cls.__init__).parameters
    assert keras.saving.get_registered_name(cls) == f"zoo>{cls.__name__}"
    gate = cls(num_experts=3)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    for training in (False, True):
        w = np.asarray(gate(x, training=training))
        assert w.shape == (5, 3)
        assert (w >= 0).all()
        np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-5)
    assert cls.from_config(gate.get_config()).get_config() == gate.get_config()


def test_gates_are_listed_without_importing_tensorflow():
    script = (
        "import json, sys\n"
        "from zoo.registry import GATES\n"
        "names = list(GATES)\n"
        "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'\n"
        "assert 'keras' not in sys.modules, 'Keras was imported'\n"
        "print(json.dumps(names))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == list(GATES)


def test_adding_a_file_is_all_it_takes(tmp_path):
    for name in ("softmax_gate.py", "noisy_top_k_gate.py", "__init__.py", "factory.py"):
        (tmp_path / name).write_text((GATES_DIR / name).read_text())
    (tmp_path / "d_select_k_gate.py").write_text(
        "import keras\n\n\nclass _Helper:\n    pass\n\n\n"
        "class DSelectKGate(keras.layers.Layer):\n    pass\n"
    )
    found = discover_gates(tmp_path)
    assert sorted(found) == ["d-select-k", "noisy-top-k", "softmax"]
    assert found["d-select-k"] == "zoo.layers.gates.d_select_k_gate:DSelectKGate"
    assert found["softmax"] == "zoo.layers.gates.softmax_gate:SoftmaxGate"


def test_a_gate_file_must_hold_one_public_class(tmp_path):
    (tmp_path / "twin_gate.py").write_text("class AGate:\n    pass\n\n\nclass BGate:\n    pass\n")
    with pytest.raises(ValueError, match=r"one public gate class in .*twin_gate.py"):
        discover_gates(tmp_path)


def test_unknown_gate_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="Unknown gate 'top-k'. Valid gates: .*noisy-top-k"):
        GATES.check_name("top-k")
