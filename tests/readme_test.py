"""The README's commands are the ones that work: CI runs the documented test command."""

import json
import pathlib
import re

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _bash_blocks(text):
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = [block.strip() for block in _bash_blocks(readme)]
    test_command = next(c for c in commands if c.endswith("pytest"))
    ci_lines = [
        line
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "set ", "cd "))
    ]
    assert ci_lines == [test_command]
    # Both commands install from the checkout at the versions CI tests.
    train_command = next(c for c in commands if c.endswith("zoo train"))
    for command in (train_command, test_command):
        assert re.search(r"pip install -c constraints\.txt -e \"?\.\[cpu", command), command


def test_install_line_comes_first():
    readme = (ROOT / "README.md").read_text()
    first = _bash_blocks(readme)[0].strip()
    assert first.startswith("pip install ") and "mtl-zoo[cpu]" in first
    assert readme.index("## Install") < readme.index("## The two commands")


def test_serving_readme_request_names_every_census_feature():
    from zoo.data.sources.census_income.schema import feature_columns

    text = (ROOT / "savedmodels" / "README.md").read_text()
    body = re.search(r"-d '(\{.*?\})'", text, flags=re.S).group(1)
    instance = json.loads(body)["instances"][0]
    assert sorted(instance) == sorted(feature_columns(1, "paper"))


@pytest.mark.slow
def test_readme_python_example_runs(tmp_path, monkeypatch):
    readme = (ROOT / "README.md").read_text()
    # "In your own code", the presets and compile example, the heads one and the feature
    # types one, in one namespace.
    example, presets, heads, histories = re.findall(r"```python\n(.*?)```", readme, flags=re.S)[:4]
    assert "epochs=5" in example and "from_preset" in presets
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(example.replace("epochs=5", "epochs=1"), "README.md", "exec"), namespace)
    assert (tmp_path / "mmoe.keras").exists()
    assert namespace["reloaded"].preprocessor is not None
    exec(compile(presets, "README.md", "exec"), namespace)
    assert namespace["fresh"].built_loss_weights == {"income": 1.0, "never_married": 1.0}
    assert namespace["fresh"].loss_weighting.task_weights()["income"] == 2.0
    exec(compile(heads, "README.md", "exec"), namespace)
    routed, dlen = namespace["routed"], namespace["dlen"]
    assert sorted(routed.towers) == [
        "income__Female",
        "income__Male",
        "never_married__Female",
        "never_married__Male",
    ]
    assert routed.predict(namespace["rows"], verbose=0)["income"].shape == (5, 1)
    assert type(dlen.output_head).__name__ == "LatentEmotionMixture"
    exec(compile(histories, "README.md", "exec"), namespace)
    weights = namespace["din"].attention_weights(namespace["rows"])["watched_videos"]
    assert tuple(weights.shape) == (3, 20)
    history = namespace["rows"]["watched_videos"]
    assert (np.asarray(weights)[history < 0] == 0).all()


def _github_anchor(heading):
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@pytest.mark.parametrize("document", ["README.md", "bench/README.md"])
def test_every_link_to_a_heading_finds_it(document):
    path = ROOT / document
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)  # no code comments
    headings = re.findall(r"^#{1,6} (.+)$", text, flags=re.MULTILINE)
    anchors = {_github_anchor(h) for h in headings}
    links = re.findall(r"\]\(#([^)\s]+)\)", text)
    broken = sorted({link for link in links if link not in anchors})
    assert not broken, f"{document} links to headings it does not have: {broken}"
    # "[text]((#anchor))" renders as text, not a link.
    doubled = re.findall(r"\[[^\]]*\]\(\(#[^)\s]*\)", text)
    assert not doubled, f"{document} has links in doubled parentheses: {doubled}"
